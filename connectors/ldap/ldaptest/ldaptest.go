// Package ldaptest runs a real OpenLDAP slapd for tests, on a throwaway configuration under
// t.TempDir(): an mdb database with suffix dc=example,dc=com, the core, cosine, nis and
// inetorgperson schemas (and idstream-test.schema beside this file: nickName and homeMail in the
// auxiliary class idstreamTestPerson), listening on ldap://127.0.0.1:<free port> (and ldaps:// with WithTLS).
//
// slapd comes from Debian's packages. When it is missing, Start runs install-slapd.sh beside
// this file (apt-get, guarded by a lock file so parallel test binaries install once, with
// services kept from starting). When it cannot be installed a test skips with a loud reason,
// except under CI=true, where it fails.
//
// The server keeps its data on disk, so Stop and Start give outage tests the same server back:
// the same port, the same entries.
package ldaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The directory every server holds.
const (
	// BaseDN is the suffix of the database.
	BaseDN = "dc=example,dc=com"
	// UsersDN and GroupsDN are the containers created at start, for users and groups.
	UsersDN  = "ou=people," + BaseDN
	GroupsDN = "ou=groups," + BaseDN
	// RootDN is the database's rootdn: bound as it, ACLs and limits do not apply.
	RootDN = "cn=admin," + BaseDN
	// WriterDN is an ordinary entry that may write everything below BaseDN; unlike RootDN, the
	// server's limits (WithSizeLimit) apply to it.
	WriterDN = "cn=writer," + BaseDN
	// ReaderDN is an ordinary entry that may read, never write: writes bound as it answer
	// insufficientAccessRights (50).
	ReaderDN = "cn=reader," + BaseDN
)

// Server is a running slapd. Its methods are safe for concurrent use except Stop and Start,
// which a test calls from one goroutine.
type Server struct {
	// URL is ldap://127.0.0.1:PORT (StartTLS is offered there when the server has TLS).
	URL string
	// LDAPSURL is ldaps://127.0.0.1:PORT2 with WithTLS, else "".
	LDAPSURL string
	// BindDN and Password are the rootdn's credentials.
	BindDN, Password string
	// WriterPassword and ReaderPassword are the passwords of WriterDN and ReaderDN.
	WriterPassword, ReaderPassword string
	// BaseDN, UsersDN and GroupsDN repeat the package's constants.
	BaseDN, UsersDN, GroupsDN string
	// CACert is the PEM certificate of the throwaway CA that signed the server's certificate
	// (WithTLS), else nil.
	CACert []byte
	// Dir is the server's folder: slapd.conf, the database, the log.
	Dir string

	t        testing.TB
	cfg      config
	conf     string
	port     string
	tlsPort  string
	slapdBin string

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

type config struct {
	tls       bool
	sizeLimit int
}

// Option configures Start.
type Option func(*config)

// WithTLS gives the server a certificate for 127.0.0.1 and localhost, signed by a throwaway CA
// made for this server (Server.CACert): StartTLS on URL and an ldaps:// listener on LDAPSURL.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithSizeLimit limits the entries one search returns to n for every bind but RootDN (whom
// limits do not bind), with paged searches unlimited in total: a search of more than n entries
// succeeds only when it pages (RFC 2696) with pages of at most n.
func WithSizeLimit(n int) Option { return func(c *config) { c.sizeLimit = n } }

// Start installs slapd when it is missing, starts a server on free loopback ports with an empty
// directory (BaseDN, UsersDN, GroupsDN, WriterDN and ReaderDN), and stops it in t.Cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := Require()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ldaptest: %v (CI=true: the LDAP test server is required)", err)
		}
		t.Skipf("ldaptest: SKIPPING, the LDAP test server cannot run: %v", err)
	}
	s := &Server{
		BindDN: RootDN, Password: rand.Text(),
		WriterPassword: rand.Text(), ReaderPassword: rand.Text(),
		BaseDN: BaseDN, UsersDN: UsersDN, GroupsDN: GroupsDN,
		Dir: t.TempDir(), t: t, cfg: cfg, slapdBin: bin,
	}
	if err := s.setup(); err != nil {
		t.Fatalf("ldaptest: %v", err)
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

var installMu sync.Mutex

// Require returns the path of slapd, installing slapd and ldap-utils first when they are
// missing (install-slapd.sh, which holds a lock file while apt runs).
func Require() (string, error) {
	installMu.Lock()
	defer installMu.Unlock()
	if bin, err := findSlapd(); err == nil {
		if _, err := exec.LookPath("slapadd"); err == nil {
			return bin, nil
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "install-slapd.sh")
	out, err := exec.Command("bash", script).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("slapd is not installed and %s failed: %w\n%s", script, err, out)
	}
	return findSlapd()
}

func findSlapd() (string, error) {
	if bin, err := exec.LookPath("slapd"); err == nil {
		return bin, nil
	}
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd", nil
	}
	return "", errors.New("slapd is not installed (apt-get install slapd ldap-utils)")
}

// moduleDir is where Debian's slapd keeps back_mdb.
func moduleDir() string {
	for _, d := range []string{"/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap", "/usr/lib/aarch64-linux-gnu/ldap", "/usr/libexec/openldap"} {
		if _, err := os.Stat(filepath.Join(d, "back_mdb.so")); err == nil {
			return d
		}
	}
	return ""
}

func schemaDir() string {
	for _, d := range []string{"/etc/ldap/schema", "/etc/openldap/schema"} {
		if _, err := os.Stat(filepath.Join(d, "inetorgperson.schema")); err == nil {
			return d
		}
	}
	return "/etc/ldap/schema"
}

func (s *Server) setup() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	s.URL = "ldap://127.0.0.1:" + port
	if s.cfg.tls {
		if s.tlsPort, err = freePort(); err != nil {
			return err
		}
		s.LDAPSURL = "ldaps://127.0.0.1:" + s.tlsPort
		if err := s.writeCerts(); err != nil {
			return err
		}
	}
	dbDir := filepath.Join(s.Dir, "db")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return err
	}
	hash := func(pw string) (string, error) {
		out, err := exec.Command(filepath.Join(filepath.Dir(s.slapdBin), "slappasswd"), "-s", pw).Output()
		if err != nil {
			// slappasswd is slapd's own tool; without it the password is stored as is.
			return pw, nil //nolint:nilerr
		}
		return strings.TrimSpace(string(out)), nil
	}
	rootHash, err := hash(s.Password)
	if err != nil {
		return err
	}
	var b strings.Builder
	sch := schemaDir()
	for _, name := range []string{"core", "cosine", "nis", "inetorgperson"} {
		fmt.Fprintf(&b, "include %s/%s.schema\n", sch, name)
	}
	_, self, _, _ := runtime.Caller(0)
	fmt.Fprintf(&b, "include %s\n", filepath.Join(filepath.Dir(self), "idstream-test.schema"))
	fmt.Fprintf(&b, "pidfile %s\nargsfile %s\n", filepath.Join(s.Dir, "slapd.pid"), filepath.Join(s.Dir, "slapd.args"))
	if d := moduleDir(); d != "" {
		fmt.Fprintf(&b, "modulepath %s\nmoduleload back_mdb\n", d)
	}
	if s.cfg.tls {
		fmt.Fprintf(&b, "TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n",
			filepath.Join(s.Dir, "ca.pem"), filepath.Join(s.Dir, "server.pem"), filepath.Join(s.Dir, "server.key"))
	}
	if s.cfg.sizeLimit > 0 {
		fmt.Fprintf(&b, "sizelimit size.soft=%d size.hard=%d size.pr=%d size.prtotal=unlimited\n",
			s.cfg.sizeLimit, s.cfg.sizeLimit, s.cfg.sizeLimit)
	}
	// The mdb database. maxsize bounds the memory map (1 GiB holds well over 100k users).
	// Durability is the default: no dbnosync, so every write is synced as in production.
	fmt.Fprintf(&b, `database mdb
suffix %q
rootdn %q
rootpw %s
directory %s
maxsize 1073741824
index objectClass eq
index uid,cn,mail,sn,givenName,employeeNumber,entryUUID,member eq
access to attrs=userPassword
	by self write
	by dn.exact=%q write
	by anonymous auth
	by * none
access to *
	by dn.exact=%q write
	by dn.exact=%q read
	by * none
`, BaseDN, RootDN, rootHash, dbDir, WriterDN, WriterDN, ReaderDN)
	s.conf = filepath.Join(s.Dir, "slapd.conf")
	if err := os.WriteFile(s.conf, []byte(b.String()), 0o600); err != nil {
		return err
	}
	writerHash, _ := hash(s.WriterPassword)
	readerHash, _ := hash(s.ReaderPassword)
	seed := fmt.Sprintf(`dn: %s
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: %s
objectClass: organizationalUnit
ou: people

dn: %s
objectClass: organizationalUnit
ou: groups

dn: %s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: writer
userPassword: %s

dn: %s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: %s
`, BaseDN, UsersDN, GroupsDN, WriterDN, writerHash, ReaderDN, readerHash)
	slapadd := filepath.Join(filepath.Dir(s.slapdBin), "slapadd")
	if _, err := os.Stat(slapadd); err != nil {
		slapadd = "slapadd"
	}
	cmd := exec.Command(slapadd, "-f", s.conf, "-b", BaseDN)
	cmd.Stdin = strings.NewReader(seed)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("slapadd the seed entries: %w\n%s\n--- slapd.conf:\n%s", err, out, redact(b.String()))
	}
	return nil
}

func redact(conf string) string {
	var out []string
	for _, l := range strings.Split(conf, "\n") {
		if strings.HasPrefix(l, "rootpw ") {
			l = "rootpw <redacted>"
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

// Start starts the server again after Stop: the same ports, the same data.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("ldaptest: Start: the server is running")
	}
	urls := s.URL + "/"
	if s.LDAPSURL != "" {
		urls += " " + s.LDAPSURL + "/"
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatalf("ldaptest: %v", err)
	}
	// -d keeps slapd in the foreground, so the test owns the process; level "stats" would log
	// every operation, which a benchmark cannot afford: 0 logs start-up errors only.
	cmd := exec.Command(s.slapdBin, "-d", "0", "-f", s.conf, "-h", urls)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("ldaptest: start slapd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	// Wait until it answers: a start-up bound, not an assertion on speed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := s.ping(); err == nil {
			break
		}
		select {
		case <-exited:
			logf.Close()
			s.t.Fatalf("ldaptest: slapd exited before listening: %s", s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			logf.Close()
			s.t.Fatalf("ldaptest: slapd did not answer in 60s: %s", s.logTail())
		}
	}
	s.cmd, s.log, s.exited = cmd, logf, exited
}

func (s *Server) ping() error {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Bind(s.BindDN, s.Password)
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "slapd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop stops the server (SIGTERM, so mdb closes cleanly) and waits for it to exit. Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.log.Close()
	s.cmd = nil
}

// Running reports whether the server is started.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Dial returns a connection bound as RootDN, closed in t.Cleanup: for tests that inspect or
// seed the directory behind the connector's back.
func (s *Server) Dial(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("ldaptest: dial %s: %v", s.URL, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(s.BindDN, s.Password); err != nil {
		t.Fatalf("ldaptest: bind %s: %v", s.BindDN, err)
	}
	return c
}

// Entry returns the entry at dn with all its user and operational attributes, or nil when
// there is none.
func (s *Server) Entry(t testing.TB, dn string) *ldap.Entry {
	t.Helper()
	c := s.Dial(t)
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"*", "+"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		t.Fatalf("ldaptest: read %s: %v", dn, err)
	}
	if len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0]
}

// Count returns how many entries below base (the base excluded) match filter, paging so that
// no size limit cuts it short.
func (s *Server) Count(t testing.TB, base, filter string) int {
	t.Helper()
	c := s.Dial(t)
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, []string{"1.1"}, nil), 500)
	if err != nil {
		t.Fatalf("ldaptest: count %s below %s: %v", filter, base, err)
	}
	n := 0
	for _, e := range res.Entries {
		if !strings.EqualFold(e.DN, base) {
			n++
		}
	}
	return n
}

// Reset deletes every entry below UsersDN and GroupsDN (the containers stay): a clean
// directory for the next test, without a restart.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	c := s.Dial(t)
	defer c.Close()
	for _, base := range []string{GroupsDN, UsersDN} {
		res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"1.1"}, nil), 500)
		if err != nil {
			t.Fatalf("ldaptest: reset %s: %v", base, err)
		}
		// Children before parents: longer DNs first.
		dns := make([]string, 0, len(res.Entries))
		for _, e := range res.Entries {
			if !strings.EqualFold(e.DN, base) {
				dns = append(dns, e.DN)
			}
		}
		sort.Slice(dns, func(i, j int) bool { return len(dns[i]) > len(dns[j]) })
		for _, dn := range dns {
			if err := c.Del(ldap.NewDelRequest(dn, nil)); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				t.Fatalf("ldaptest: reset: delete %s: %v", dn, err)
			}
		}
	}
}

// TLSConfig returns a client TLS configuration that trusts the server's CA (WithTLS).
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CACert)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// writeCerts makes a throwaway CA and a server certificate for 127.0.0.1 and localhost.
func (s *Server) writeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "idstream ldaptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	s.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.pem":     s.CACert,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// MeasureAddRate adds n inetOrgPerson entries below UsersDN with plain go-ldap (not idstream's
// connector), from workers connections bound as RootDN, and returns the entries added per
// second: slapd's own add rate, to compare the connector's throughput with. Each entry is
// RateEntry's; they are left in the directory, named with a unique prefix.
func (s *Server) MeasureAddRate(n, workers int) (float64, error) {
	if n <= 0 || workers <= 0 {
		return 0, errors.New("measure add rate: n and workers must be positive")
	}
	prefix := "rate" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	conns := make([]*ldap.Conn, workers)
	for i := range conns {
		c, err := ldap.DialURL(s.URL)
		if err != nil {
			return 0, fmt.Errorf("measure add rate: %w", err)
		}
		defer c.Close()
		if err := c.Bind(s.BindDN, s.Password); err != nil {
			return 0, fmt.Errorf("measure add rate: %w", err)
		}
		conns[i] = c
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func(c *ldap.Conn) {
			defer wg.Done()
			for i := range jobs {
				if err := c.Add(RateEntry(fmt.Sprintf("%s%d", prefix, i))); err != nil {
					errs <- err
					return
				}
			}
		}(c)
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case err = <-errs:
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return 0, fmt.Errorf("measure add rate: %w", err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// RateEntry is the entry MeasureAddRate adds for uid: what the LDAP connector writes for
// scimtest.RateUser(uid) (uid, cn, sn, givenName, displayName, mail, employeeNumber).
func RateEntry(uid string) *ldap.AddRequest {
	a := ldap.NewAddRequest("uid="+ldap.EscapeDN(uid)+","+UsersDN, nil)
	a.Attribute("objectClass", []string{"inetOrgPerson"})
	a.Attribute("uid", []string{uid})
	a.Attribute("cn", []string{"Rate " + uid})
	a.Attribute("displayName", []string{"Rate " + uid})
	a.Attribute("givenName", []string{"Rate"})
	a.Attribute("sn", []string{"Measure"})
	a.Attribute("mail", []string{uid})
	a.Attribute("employeeNumber", []string{"ext-" + uid})
	return a
}
