package projections

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/idstream/idstream/domain"
)

// richHistory returns payloads exercising every part of the Directory: two environments (one
// deleted later), a population pending its environment, schema changes, users with every kind
// of change, direct, dynamic and nested groups, API clients with tokens.
func richHistory(users int) []any {
	h := []any{
		domain.PopulationCreated{EnvironmentID: env1, PopulationID: env1 + "-pop", Name: "Default"},
		domain.EnvironmentCreated{EnvironmentID: env1, Name: "One", DefaultPopulationID: env1 + "-pop", PasswordPolicy: domain.DefaultPasswordPolicy()},
		domain.PopulationCreated{EnvironmentID: env1, PopulationID: env1 + "-staff", Name: "Staff"},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "dept", Type: domain.AttributeString}},
		domain.SchemaAttributeAdded{EnvironmentID: env1, Attribute: domain.AttributeDef{Name: "vip", Type: domain.AttributeBoolean}},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-eng", Name: "Engineers", Kind: domain.GroupDynamic, Filter: `dept eq "ENG"`},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-all", Name: "All", Kind: domain.GroupDirect},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-top", Name: "Top", Kind: domain.GroupDirect},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-top", ChildID: "g-all"},
		domain.GroupNested{EnvironmentID: env1, ParentID: "g-all", ChildID: "g-eng"},
		domain.APIClientCreated{EnvironmentID: env1, ClientID: "c1", Name: "ci"},
		domain.APIClientTokenIssued{EnvironmentID: env1, ClientID: "c1", TokenID: "t1", SHA256: "ab12"},
		domain.APIClientTokenIssued{EnvironmentID: env1, ClientID: "c1", TokenID: "t2", SHA256: "cd34"},
		domain.APIClientTokenRevoked{EnvironmentID: env1, ClientID: "c1", TokenID: "t1"},
		domain.APIClientCreated{ClientID: "admin", Name: "bootstrap", Roles: []domain.RoleAssignment{{ID: "r0", Role: domain.RoleEnvironmentAdmin}}},
		domain.APIClientTokenIssued{ClientID: "admin", TokenID: "t9", SHA256: "ee99"},
		domain.PopulationCreated{EnvironmentID: env2, PopulationID: env2 + "-pop", Name: "Default"},
		domain.EnvironmentCreated{EnvironmentID: env2, Name: "Two", DefaultPopulationID: env2 + "-pop"},
		domain.APIClientCreated{EnvironmentID: env2, ClientID: "c2", Name: "two"},
		domain.PopulationCreated{EnvironmentID: "env-pending", PopulationID: "p-pending", Name: "Waiting"},
	}
	for n := range users {
		id := userID(n)
		dept := []string{"ENG", "OPS", "HR"}[n%3]
		h = append(h, domain.UserCreated{EnvironmentID: env1, UserID: id, PopulationID: env1 + "-pop", Enabled: true,
			Profile: domain.Profile{Username: fmt.Sprintf("user%d", n), Email: fmt.Sprintf("user%d@example.com", n), ExternalID: fmt.Sprint("x", n),
				Name: domain.Name{Given: "Given", Family: fmt.Sprintf("Family%d", n%10)}},
			Custom: domain.CustomValues{"dept": raw(fmt.Sprintf("%q", dept))}})
		if n%2 == 0 {
			h = append(h, domain.GroupMemberAdded{EnvironmentID: env1, GroupID: "g-all", UserID: id})
		}
		switch n % 7 {
		case 1:
			h = append(h, domain.UserLocked{EnvironmentID: env1, UserID: id, Reason: domain.LockAdmin})
		case 2:
			h = append(h, domain.UserPasswordSet{EnvironmentID: env1, UserID: id, Hash: "$argon2id$x", MustChange: true},
				domain.UserPasswordCheckFailed{EnvironmentID: env1, UserID: id, Failures: 2})
		case 3:
			h = append(h, domain.UserMFADeviceEnrolled{EnvironmentID: env1, UserID: id, DeviceID: "d1", Type: domain.MFADeviceType("EMAIL"), Email: "m@x"},
				domain.UserMFADeviceActivated{EnvironmentID: env1, UserID: id, DeviceID: "d1"},
				domain.UserRoleAssigned{EnvironmentID: env1, UserID: id, Assignment: domain.RoleAssignment{ID: "ra", Role: domain.RoleEnvironmentAdmin}})
		case 4:
			h = append(h, domain.UserPopulationChanged{EnvironmentID: env1, UserID: id, From: env1 + "-pop", To: env1 + "-staff"},
				domain.UserConsentRecorded{EnvironmentID: env1, UserID: id, ConsentID: "k", Purpose: "news", Version: "1"},
				domain.UserAccountLinked{EnvironmentID: env1, UserID: id, LinkID: "l", IdentityProvider: "idp", Subject: "s"})
		case 5:
			h = append(h, domain.UserUpdated{EnvironmentID: env1, UserID: id, Profile: domain.Profile{Username: fmt.Sprintf("user%d", n), Title: "Dr"},
				Custom: domain.CustomValues{"dept": raw(`"ENG"`), "vip": raw(`true`)}})
		case 6:
			if n%3 == 0 {
				h = append(h, domain.UserDeleted{EnvironmentID: env1, UserID: id})
			}
		}
	}
	h = append(h,
		domain.UserCreated{EnvironmentID: env2, UserID: userID(users + 1), PopulationID: env2 + "-pop", Profile: domain.Profile{Username: "gone"}},
		domain.GroupCreated{EnvironmentID: env1, GroupID: "g-vip", Name: "VIP", Kind: domain.GroupDynamic, Filter: `vip eq true`},
		domain.SchemaAttributeRemoved{EnvironmentID: env1, Name: "vip"},
		domain.GroupRoleAssigned{EnvironmentID: env1, GroupID: "g-all", Assignment: domain.RoleAssignment{ID: "gr", Role: domain.RoleEnvironmentAdmin}},
		domain.EnvironmentDeleted{EnvironmentID: env2},
	)
	return h
}

func foldHistory(t testing.TB, h []any) *fixture {
	f := newFixture(t)
	f.apply(h...)
	return f
}

// sameAnswers checks that b answers the queries a does.
func sameAnswers(t *testing.T, a, b *Directory) {
	t.Helper()
	if a.Position() != b.Position() {
		t.Fatalf("position %s, want %s", b.Position(), a.Position())
	}
	check := func(what string, x, y any) {
		t.Helper()
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s differs:\n got %+v\nwant %+v", what, y, x)
		}
	}
	check("environments", a.Environments(), b.Environments())
	for _, env := range []string{env1, env2, "env-pending"} {
		for _, q := range []UserQuery{{First: 1000}, {Filter: `dept eq "ENG"`, First: 1000}, {Filter: `name.familyName eq "Family3"`},
			{PopulationIDs: []string{env1 + "-staff"}}, {Filter: `username eq "user4"`}, {Filter: `externalId eq "x8"`}} {
			pa, ea := a.Users(env, q)
			pb, eb := b.Users(env, q)
			check(fmt.Sprintf("users %s %+v", env, q), fmt.Sprint(ea), fmt.Sprint(eb))
			check(fmt.Sprintf("users %s %+v", env, q), normUsers(pa.Users), normUsers(pb.Users))
			check("total", pa.TotalCount, pb.TotalCount)
		}
		pa, ea := a.Populations(env)
		pb, eb := b.Populations(env)
		check("populations "+env, fmt.Sprint(pa, ea), fmt.Sprint(pb, eb))
		sa, _ := a.Schema(env)
		sb, _ := b.Schema(env)
		check("schema "+env, sa, sb)
		ga, _ := a.Groups(env, GroupQuery{First: 100})
		gb, _ := b.Groups(env, GroupQuery{First: 100})
		check("groups "+env, fmt.Sprint(ga), fmt.Sprint(gb))
		for _, g := range ga.Groups {
			for _, tr := range []bool{false, true} {
				ma, _ := a.GroupMembers(env, g.ID, tr)
				mb, _ := b.GroupMembers(env, g.ID, tr)
				check("members "+g.ID, fmt.Sprint(len(ma.Users), ma.Groups), fmt.Sprint(len(mb.Users), mb.Groups))
			}
		}
		for n := range 20 {
			ua, _ := a.UserGroups(env, userID(n), true)
			ub, _ := b.UserGroups(env, userID(n), true)
			check("user groups", fmt.Sprint(ua), fmt.Sprint(ub))
		}
		n1, _ := a.UsersWithAttribute(t.Context(), env, "dept")
		n2, _ := b.UsersWithAttribute(t.Context(), env, "dept")
		check("attribute use", n1, n2)
		ca, _ := a.APIClients(env)
		cb, _ := b.APIClients(env)
		check("clients "+env, fmt.Sprint(ca), fmt.Sprint(cb))
	}
	now := time.Now()
	for _, h := range []string{"ab12", "cd34", "ee99", "ff00"} {
		c1, t1, ok1 := a.APIClientByTokenHash(h, now)
		c2, t2, ok2 := b.APIClientByTokenHash(h, now)
		check("token "+h, fmt.Sprint(c1, t1, ok1), fmt.Sprint(c2, t2, ok2))
	}
	pa, sa := a.Checksum()
	pb, sb := b.Checksum()
	if pa != pb || sa != sb {
		t.Errorf("checksum %s %x, want %s %x", pb, sb, pa, sa)
	}
}

// normUsers prints users so that nil and empty slices (which gob does not tell apart) compare
// equal, and times by instant.
func normUsers(us []*User) string {
	var b bytes.Buffer
	for _, u := range us {
		fmt.Fprintf(&b, "%s|%s|%s|%+v|%s|%v%v%s%d|%v%v%d|%v|%v|%v|%v|%d|%d\n", u.ID, u.EnvironmentID, u.PopulationID, u.Profile, u.Custom,
			u.Enabled, u.Locked, u.LockReason, u.LockedUntil.UnixNano(), u.HasPassword, u.MustChangePassword, u.PasswordFailures,
			u.MFADevices, u.Consents, u.LinkedAccounts, u.Roles, u.CreatedAt.UnixNano(), u.UpdatedAt.UnixNano())
	}
	return b.String()
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := foldHistory(t, richHistory(300))
	var buf bytes.Buffer
	info, err := f.d.WriteSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes != int64(buf.Len()) || info.Position != f.d.Position() || info.Environments != 1 || info.Users == 0 || info.Groups != 4 {
		t.Fatalf("info %+v (%d bytes written)", info, buf.Len())
	}
	d, rinfo, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if rinfo.Position != info.Position || rinfo.Users != info.Users || rinfo.Groups != info.Groups || rinfo.Bytes != info.Bytes {
		t.Fatalf("read info %+v, wrote %+v", rinfo, info)
	}
	sameAnswers(t, f.d, d)

	// The restored model keeps folding like the original.
	more := []any{domain.UserCreated{EnvironmentID: env1, UserID: userID(5000), PopulationID: env1 + "-pop", Enabled: true,
		Profile: domain.Profile{Username: "late"}, Custom: domain.CustomValues{"dept": raw(`"ENG"`)}},
		domain.GroupMemberAdded{EnvironmentID: env1, GroupID: "g-all", UserID: userID(5000)},
		domain.UserDeleted{EnvironmentID: env1, UserID: userID(0)},
		domain.EnvironmentCreated{EnvironmentID: "env-pending", Name: "Late", DefaultPopulationID: "p-pending"}}
	g := &fixture{t: t, d: d, pos: f.pos, now: f.now}
	f.apply(more...)
	g.apply(more...)
	sameAnswers(t, f.d, d)
}

func TestSnapshotOfEmptyDirectory(t *testing.T) {
	var buf bytes.Buffer
	if _, err := NewDirectory().WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	d, _, err := ReadSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, NewDirectory(), d)
}

func TestSnapshotDamageRefused(t *testing.T) {
	f := foldHistory(t, richHistory(50))
	var buf bytes.Buffer
	if _, err := f.d.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	cases := map[string][]byte{"empty": nil, "trailing byte": append(bytes.Clone(good), 0)}
	for _, n := range []int{10, snapshotHeaderSize, len(good) / 2, len(good) - 1, len(good) - 32} {
		cases[fmt.Sprint("truncated at ", n)] = good[:n]
	}
	for _, i := range []int{0, snapshotHeaderSize + 5, len(good) / 3, len(good) / 2, len(good) - 40, len(good) - 1} {
		b := bytes.Clone(good)
		b[i] ^= 0x20
		cases[fmt.Sprint("byte flipped at ", i)] = b
	}
	for name, b := range cases {
		d, _, err := ReadSnapshot(bytes.NewReader(b))
		if name == "trailing byte" {
			// ReadSnapshot reads to the snapshot's end and no further: a store checks the size.
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || d != nil {
			t.Errorf("%s: read without error", name)
			continue
		}
		if !errors.Is(err, ErrSnapshotCorrupt) && !errors.Is(err, ErrSnapshotVersion) {
			t.Errorf("%s: error %v is neither corrupt nor version", name, err)
		}
	}
}

func TestSnapshotOtherVersionRefused(t *testing.T) {
	var buf bytes.Buffer
	if _, err := foldHistory(t, richHistory(5)).d.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[15] = DirectoryVersion + 1 // the projection version's low byte
	_, info, err := ReadSnapshot(bytes.NewReader(b))
	if !errors.Is(err, ErrSnapshotVersion) || info.ProjectionVersion != DirectoryVersion+1 {
		t.Fatalf("err %v, info %+v", err, info)
	}
	b[15], b[11] = DirectoryVersion, snapshotFormat+1
	if _, _, err := ReadSnapshot(bytes.NewReader(b)); !errors.Is(err, ErrSnapshotVersion) {
		t.Fatalf("other format: %v", err)
	}
}

func TestChecksumIndependentOfOrderAndPath(t *testing.T) {
	a := foldHistory(t, richHistory(100))
	b := foldHistory(t, richHistory(100))
	_, sa := a.d.Checksum()
	_, sb := b.d.Checksum()
	if sa != sb {
		t.Fatal("same events, different checksums")
	}
	b.apply(domain.UserEnabled{EnvironmentID: env1, UserID: userID(1)})
	if _, sc := b.d.Checksum(); sc == sa {
		t.Fatal("a changed model has the same checksum")
	}
}

func FuzzReadSnapshot(f *testing.F) {
	var buf bytes.Buffer
	if _, err := foldHistory(f, richHistory(3)).d.WriteSnapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:snapshotHeaderSize+20])
	f.Add([]byte("IDSNAP\x00\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _, err := ReadSnapshot(bytes.NewReader(b))
		if (err == nil) == (d == nil) {
			t.Fatalf("directory %v with error %v", d != nil, err)
		}
	})
}
