// Package ldap is the connector of LDAP v3 directories (store type LDAP): OpenLDAP with
// inetOrgPerson users and groupOfNames groups (flavor openldap, the default) or Active Directory
// (flavor ad: user and group objects). It maps the SCIM shape of connectors.Resource to entries.
//
// IDs. A resource's ID is the entry's entryUUID (AD: objectGUID in its text form), not its DN:
// the DN changes when the RDN attribute's value does, the UUID never. Get, Update and Delete
// search for the ID below the kind's base DN. A new RDN value (a new userName with
// userRDNAttribute uid, a new displayName of a group) renames the entry with a modify DN
// request first; a change of case only is a plain modify.
//
// Users. userName is uid (AD: sAMAccountName); name.givenName givenName, name.familyName sn,
// name.middleName initials; displayName is displayName and cn (cn is userName when there is no
// displayName); emails and phoneNumbers go by type to the attributes of emailAttributes
// (default work=mail) and phoneAttributes (default work=telephoneNumber, home=homePhone,
// mobile=mobile, fax=facsimileTelephoneNumber, pager=pager) — an element without a type goes to
// the first pair's attribute, a type with no pair is refused as invalid; title is title;
// externalId employeeNumber. Any other top-level attribute passes through as the LDAP attribute
// of the same name (a string, number or boolean one value, a list several; objects are refused).
// Reading does the reverse, and shows every other user attribute of the entry under its own
// name, never a password. inetOrgPerson requires sn: without a family name sn is set to the
// userName, and an sn equal to the userName is not shown as a family name.
//
// active. AD: the ACCOUNTDISABLE bit (0x2) of userAccountControl, its other bits kept.
// OpenLDAP's inetOrgPerson has no such flag, and ppolicy's pwdAccountLockedTime needs an overlay
// the directory may not have, so a disabled user holds the value disabledValue (default
// "disabled") in disabledAttribute (default employeeType, which inetOrgPerson allows); enabling
// removes that value. Whatever authenticates against the directory must be told to refuse it
// (an ACL or a filter such as (!(employeeType=disabled))).
//
// Groups. displayName is cn (the RDN), members [{value: ID}] are member DNs. groupOfNames
// requires a member: an empty group holds a placeholder member, the bind DN (the group's own DN
// with an anonymous bind), which reads leave out of members. UpdateMembers adds only absent
// members and deletes only present ones in one modify request, with the permissive modify
// control for a concurrent change. A member DN that names no entry (say, a user renamed while
// the directory has no referential integrity overlay) drops out of members, and the runtime's
// member reconciliation adds the member's new DN.
//
// Searches (Find and List) are paged (RFC 2696, pageSize entries a page, default 500), so a
// directory's size limit does not cut them short. Find compares with an escaped equality filter
// on the attribute(s) the SCIM path maps to, so the directory's matching rule decides (uid, mail
// and cn ignore case); it stops after 10 matches.
//
// Connections. A pool of poolSize connections (default 8) bound as bindDN, dialed when first
// needed; an operation holds one for its duration; a connection that fails is closed and the
// next operation dials again. The connector never retries. TLS: an ldaps:// url, or startTLS
// over ldap://, trusting caCert (PEM) or the system's roots. List calls fn while holding a pooled
// connection: fn may use the connector, but poolSize Lists at once whose fn do would wait.
//
// Errors are classified from LDAP result codes: invalidCredentials (49),
// insufficientAccessRights (50) and other refusals of the bind are AUTH; noSuchObject (32)
// NOT_FOUND; entryAlreadyExists (68) CONFLICT; busy and unavailable (51, 52), time and admin
// limits, and network errors UNAVAILABLE; schema, syntax and naming violations INVALID. Messages
// never hold the password.
//
// The AD flavor is written to Microsoft's documented schema but has not run against an Active
// Directory here (this project tests against a real slapd, connectors/ldap/ldaptest); it does
// not set passwords, and AD may refuse to create an enabled user that has none.
package ldap
