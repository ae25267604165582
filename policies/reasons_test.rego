package lokistack_reasons_test

import rego.v1

import data.lokistack_reasons

# The oracle is the data itself: a reason names exactly the binding and role that the data says
# grant the request, and nothing for a request the data does not grant.
rbac := {
	"roles": [
		{"name": "read-app", "resources": ["logs"], "tenants": ["application"], "permissions": ["read"]},
		{"name": "read-write-all", "resources": ["logs", "metrics"], "tenants": ["application", "infrastructure"], "permissions": ["read", "write"]},
	],
	"roleBindings": [
		{"name": "alice-reads-app", "roles": ["read-app"], "subjects": [{"kind": "user", "name": "alice"}]},
		{"name": "devs-read-app", "roles": ["read-app"], "subjects": [{"kind": "group", "name": "devs"}]},
		{"name": "admins", "roles": ["read-write-all"], "subjects": [{"kind": "group", "name": "admins"}, {"kind": "user", "name": "root"}]},
	],
	"claimRoleBindings": [{"name": "org-a", "claim": "organization", "values": ["org-a"], "roles": ["read-app"]}],
	"tenantClaims": [{"claim": "groups", "prefix": "/tenants/", "field": "tenant", "resources": ["logs"], "permissions": ["read"]}],
}

req(overrides) := object.union(
	{"subject": "nobody", "groups": [], "permission": "read", "resource": "logs", "tenant": "application"},
	overrides,
)

why(overrides) := w if {
	w := lokistack_reasons.why with input as req(overrides)
		with data.roles as rbac.roles
		with data.roleBindings as rbac.roleBindings
		with data.claimRoleBindings as rbac.claimRoleBindings
		with data.tenantClaims as rbac.tenantClaims
}

test_user_binding_named if {
	w := why({"subject": "alice"})
	w.allow == true
	w.grants == {{"kind": "role_binding", "index": 0, "binding": "alice-reads-app", "subject": {"kind": "user", "name": "alice"}, "role": "read-app"}}
}

test_every_granting_binding_named if {
	w := why({"subject": "alice", "groups": ["devs", "admins"]})
	{g.binding | some g in w.grants} == {"alice-reads-app", "devs-read-app", "admins"}
	{g.role | some g in w.grants} == {"read-app", "read-write-all"}
}

test_only_the_subject_that_matched if {
	w := why({"groups": ["admins"], "tenant": "infrastructure"})
	w.grants == {{"kind": "role_binding", "index": 2, "binding": "admins", "subject": {"kind": "group", "name": "admins"}, "role": "read-write-all"}}
}

test_deny_without_any_binding if {
	w := why({"subject": "mallory", "groups": ["guests"]})
	w.allow == false
	count(w.grants) == 0
	count(w.matched) == 0
}

test_deny_by_roles_names_the_binding_that_matched if {
	w := why({"subject": "alice", "tenant": "infrastructure"})
	w.allow == false
	count(w.grants) == 0
	w.matched == {{"kind": "role_binding", "index": 0, "binding": "alice-reads-app", "roles": ["read-app"]}}
}

test_claim_binding_named if {
	w := why({"claims": {"organization": ["x", "org-a"]}})
	w.allow == true
	w.grants == {{"kind": "claim_role_binding", "index": 0, "binding": "org-a", "claim": "organization", "value": "org-a", "role": "read-app"}}
}

test_tenant_claim_named if {
	w := why({"claims": {"groups": ["/tenants/team-a"]}, "tenant": "team-a"})
	w.allow == true
	w.grants == {{"kind": "tenant_claim", "index": 0, "claim": "groups", "value": "/tenants/team-a", "field": "tenant"}}
}

test_tenant_claim_for_another_permission_only_matches if {
	w := why({"claims": {"groups": ["/tenants/team-a"]}, "tenant": "team-a", "permission": "write"})
	w.allow == false
	count(w.grants) == 0
	count(w.matched) == 1
}

# The reasons never allow on their own: a grant appears only beside allow.
test_grants_imply_allow if {
	every o in [{"subject": "alice"}, {"subject": "alice", "tenant": "x"}, {"groups": {"k": "admins"}}, {"claims": "organization=org-a"}] {
		w := why(o)
		grants_only_with_allow(w)
	}
}

test_groups_object_names_nobody if {
	w := why({"groups": {"k": "admins"}})
	count(w.grants) == 0
	count(w.matched) == 0
}

grants_only_with_allow(w) if count(w.grants) == 0

grants_only_with_allow(w) if w.allow == true
