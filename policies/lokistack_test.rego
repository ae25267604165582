package lokistack_test

import rego.v1

import data.lokistack

rbac := {
	"roles": [
		{"name": "read-app", "resources": ["logs"], "tenants": ["application"], "permissions": ["read"]},
		{"name": "write-infra", "resources": ["logs"], "tenants": ["infrastructure"], "permissions": ["write"]},
		{"name": "read-write-all", "resources": ["logs", "metrics"], "tenants": ["application", "infrastructure", "audit"], "permissions": ["read", "write"]},
	],
	"roleBindings": [
		{"name": "alice-reads-app", "roles": ["read-app"], "subjects": [{"kind": "user", "name": "alice"}]},
		{"name": "devs-read-app", "roles": ["read-app"], "subjects": [{"kind": "group", "name": "devs"}]},
		{"name": "collector-writes", "roles": ["write-infra"], "subjects": [{"kind": "user", "name": "system:serviceaccount:openshift-logging:collector"}]},
		{"name": "admins", "roles": ["read-write-all"], "subjects": [{"kind": "group", "name": "admins"}, {"kind": "user", "name": "root"}]},
		{"name": "dangling", "roles": ["no-such-role"], "subjects": [{"kind": "user", "name": "mallory"}]},
	],
}

req(overrides) := object.union(
	{"subject": "nobody", "groups": [], "permission": "read", "resource": "logs", "tenant": "application"},
	overrides,
)

allowed(overrides) if {
	lokistack.allow with input as req(overrides) with data.roles as rbac.roles with data.roleBindings as rbac.roleBindings
}

test_user_binding_allows if allowed({"subject": "alice"})

test_group_binding_allows if allowed({"groups": ["other", "devs"]})

test_user_binding_does_not_grant_group_of_same_name if not allowed({"groups": ["alice"]})

test_group_binding_does_not_grant_user_of_same_name if not allowed({"subject": "devs"})

test_wrong_permission_denies if not allowed({"subject": "alice", "permission": "write"})

test_wrong_resource_denies if not allowed({"subject": "alice", "resource": "metrics"})

test_wrong_tenant_denies if not allowed({"subject": "alice", "tenant": "audit"})

test_write_role_allows_write if {
	allowed({"subject": "system:serviceaccount:openshift-logging:collector", "permission": "write", "tenant": "infrastructure"})
}

test_write_role_does_not_allow_read if {
	not allowed({"subject": "system:serviceaccount:openshift-logging:collector", "tenant": "infrastructure"})
}

test_binding_to_missing_role_denies if not allowed({"subject": "mallory"})

test_several_subjects_in_one_binding if {
	allowed({"subject": "root", "tenant": "audit", "resource": "metrics", "permission": "write"})
	allowed({"groups": ["admins"], "tenant": "infrastructure"})
}

test_null_groups_denies_but_user_still_matches if {
	not allowed({"groups": null})
	allowed({"subject": "alice", "groups": null})
}

test_groups_object_never_matches if not allowed({"groups": {"x": "devs"}})

test_groups_string_never_matches if not allowed({"groups": "devs"})

test_subject_not_a_string_denies if not allowed({"subject": ["alice"]})

test_missing_fields_deny if {
	not lokistack.allow with input as {"subject": "alice"} with data.roles as rbac.roles with data.roleBindings as rbac.roleBindings
}

test_no_input_denies if {
	not lokistack.allow with data.roles as rbac.roles with data.roleBindings as rbac.roleBindings
}

test_no_data_denies if {
	not lokistack.allow with input as req({"subject": "alice"}) with data.roles as [] with data.roleBindings as []
}

test_allow_is_false_not_undefined if {
	lokistack.allow == false with input as req({}) with data.roles as rbac.roles with data.roleBindings as rbac.roleBindings
}

test_matched_role_binding_lists_every_match if {
	bindings := lokistack.matched_role_binding with input as req({"subject": "root", "groups": ["devs", "admins"]})
		with data.roles as rbac.roles
		with data.roleBindings as rbac.roleBindings
	bindings == {1, 3}
}

claims_data := {
	"roles": rbac.roles,
	"roleBindings": [],
	"claimRoleBindings": [{"name": "org-a", "claim": "organization", "values": ["org-a"], "roles": ["read-app"]}],
	"tenantClaims": [
		{"claim": "groups", "prefix": "/tenants/", "field": "tenant", "resources": ["logs"], "permissions": ["read", "write"]},
		{"claim": "orgs", "prefix": "", "field": "tenantID", "resources": ["logs"], "permissions": ["read"]},
	],
}

allowed_with_claims(overrides) if {
	lokistack.allow with input as req(overrides)
		with data.roles as claims_data.roles
		with data.roleBindings as claims_data.roleBindings
		with data.claimRoleBindings as claims_data.claimRoleBindings
		with data.tenantClaims as claims_data.tenantClaims
}

test_claim_binding_string_claim if allowed_with_claims({"claims": {"organization": "org-a"}})

test_claim_binding_list_claim if allowed_with_claims({"claims": {"organization": ["other", "org-a"]}})

test_claim_binding_other_value_denies if not allowed_with_claims({"claims": {"organization": "org-b"}})

test_claim_binding_still_checks_the_role if not allowed_with_claims({"claims": {"organization": "org-a"}, "tenant": "audit"})

test_claim_binding_needs_claims_object if not allowed_with_claims({"claims": "organization=org-a"})

test_tenant_claim_names_the_tenant if {
	allowed_with_claims({"claims": {"groups": ["/tenants/team-a"]}, "tenant": "team-a"})
	allowed_with_claims({"claims": {"groups": ["/tenants/team-a"]}, "tenant": "team-a", "permission": "write"})
}

test_tenant_claim_other_tenant_denies if not allowed_with_claims({"claims": {"groups": ["/tenants/team-a"]}, "tenant": "team-b"})

test_tenant_claim_needs_the_prefix if not allowed_with_claims({"claims": {"groups": ["team-a"]}, "tenant": "team-a"})

test_tenant_claim_checks_resource if not allowed_with_claims({"claims": {"groups": ["/tenants/team-a"]}, "tenant": "team-a", "resource": "metrics"})

test_claims_ignored_without_claim_data if not allowed({"claims": {"organization": "org-a", "groups": ["/tenants/application"]}})

test_tenant_claim_by_id if {
	allowed_with_claims({"claims": {"orgs": ["0a1b2c"]}, "tenant": "team-a", "tenantID": "0a1b2c"})
	not allowed_with_claims({"claims": {"orgs": ["team-a"]}, "tenant": "team-a", "tenantID": "0a1b2c"})
	not allowed_with_claims({"claims": {"orgs": ["0a1b2c"]}, "tenant": "team-a"})
	not allowed_with_claims({"claims": {"orgs": ["0a1b2c"]}, "tenant": "team-a", "tenantID": "0a1b2c", "permission": "write"})
}
