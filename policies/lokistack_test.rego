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

# Label policies: GEL's example policies, {secret!="true", env="prod"} OR {env="dev"}, in two roles.
labels := {
	"roles": [
		{"name": "prod-not-secret", "resources": ["logs"], "tenants": ["application"], "permissions": ["read"], "selectors": ["{secret!=\"true\", env=\"prod\"}"]},
		{"name": "dev", "resources": ["logs"], "tenants": ["application"], "permissions": ["read"], "selectors": ["{env=\"dev\"}"]},
		{"name": "whole", "resources": ["logs"], "tenants": ["application"], "permissions": ["read"]},
		{"name": "writer", "resources": ["logs"], "tenants": ["application"], "permissions": ["write"], "selectors": ["{env=\"dev\"}"]},
		{"name": "dev", "resources": ["logs"], "tenants": ["infrastructure"], "permissions": ["read"], "selectors": ["{team=\"b\"}"]},
		{"name": "nulls", "resources": ["logs"], "tenants": ["application"], "permissions": ["read"], "selectors": null},
		{"name": "junk", "resources": ["logs"], "tenants": ["application"], "permissions": ["read"], "selectors": "{env=\"dev\"}"},
		{"name": "metrics", "resources": ["logs", "metrics"], "tenants": ["application"], "permissions": ["read"], "selectors": ["{env=\"dev\"}"]},
	],
	"roleBindings": [
		{"name": "a", "roles": ["prod-not-secret", "dev"], "subjects": [{"kind": "user", "name": "alice"}]},
		{"name": "b", "roles": ["dev"], "subjects": [{"kind": "group", "name": "devs"}]},
		{"name": "c", "roles": ["whole"], "subjects": [{"kind": "group", "name": "admins"}]},
		{"name": "d", "roles": ["writer"], "subjects": [{"kind": "user", "name": "collector"}]},
		{"name": "e", "roles": ["nulls"], "subjects": [{"kind": "user", "name": "nully"}]},
		{"name": "f", "roles": ["junk"], "subjects": [{"kind": "user", "name": "junky"}]},
		{"name": "g", "roles": ["metrics"], "subjects": [{"kind": "user", "name": "metric"}]},
	],
}

policy_of(overrides) := p if {
	p := lokistack.label_policy with input as req(overrides) with data.roles as labels.roles with data.roleBindings as labels.roleBindings
}

no_policy(overrides) if {
	not lokistack.label_policy with input as req(overrides) with data.roles as labels.roles with data.roleBindings as labels.roleBindings
}

test_label_policy_union_of_granting_roles_sorted if {
	policy_of({"subject": "alice"}) == {"restricted": true, "selectors": ["{env=\"dev\"}", "{secret!=\"true\", env=\"prod\"}"]}
}

test_label_policy_same_selector_twice_is_listed_once if {
	policy_of({"subject": "alice", "groups": ["devs"]}) == {"restricted": true, "selectors": ["{env=\"dev\"}", "{secret!=\"true\", env=\"prod\"}"]}
}

test_label_policy_one_role if policy_of({"groups": ["devs"]}) == {"restricted": true, "selectors": ["{env=\"dev\"}"]}

test_label_policy_same_named_role_brings_its_own_selectors if {
	policy_of({"groups": ["devs"], "tenant": "infrastructure"}) == {"restricted": true, "selectors": ["{team=\"b\"}"]}
}

test_label_policy_role_without_selectors_is_whole_tenant if {
	policy_of({"groups": ["admins"]}) == {"restricted": false}
	policy_of({"subject": "alice", "groups": ["admins"]}) == {"restricted": false}
}

test_label_policy_null_selectors_is_whole_tenant if policy_of({"subject": "nully"}) == {"restricted": false}

test_label_policy_writes_are_not_restricted if {
	policy_of({"subject": "collector", "permission": "write"}) == {"restricted": false}
}

test_label_policy_other_resources_are_not_restricted if {
	policy_of({"subject": "metric", "resource": "metrics"}) == {"restricted": false}
	policy_of({"subject": "metric"}) == {"restricted": true, "selectors": ["{env=\"dev\"}"]}
}

test_label_policy_undefined_when_denied if {
	no_policy({"subject": "alice", "tenant": "audit"})
	no_policy({"subject": "alice", "permission": "write"})
	no_policy({"subject": "nobody"})
	no_policy({"groups": ["devs"], "resource": "metrics"})
}

test_label_policy_undefined_when_selectors_hold_no_string if {
	lokistack.allow with input as req({"subject": "junky"}) with data.roles as labels.roles with data.roleBindings as labels.roleBindings
	no_policy({"subject": "junky"})
}

test_label_policy_does_not_change_allow if {
	lokistack.allow with input as req({"subject": "alice"}) with data.roles as labels.roles with data.roleBindings as labels.roleBindings
	lokistack.allow with input as req({"groups": ["devs"]}) with data.roles as labels.roles with data.roleBindings as labels.roleBindings
}

labels_claims_policy(overrides) := p if {
	p := lokistack.label_policy with input as req(overrides)
		with data.roles as labels.roles
		with data.roleBindings as []
		with data.claimRoleBindings as [{"name": "org", "claim": "org", "values": ["a"], "roles": ["dev"]}, {"name": "root", "claim": "org", "values": ["root"], "roles": ["whole"]}]
		with data.tenantClaims as [{"claim": "groups", "prefix": "/tenants/", "field": "tenant", "resources": ["logs"], "permissions": ["read"]}]
}

test_label_policy_claim_binding_carries_selectors if {
	labels_claims_policy({"claims": {"org": "a"}}) == {"restricted": true, "selectors": ["{env=\"dev\"}"]}
	labels_claims_policy({"claims": {"org": ["a", "root"]}}) == {"restricted": false}
}

test_label_policy_tenant_claim_is_whole_tenant if {
	labels_claims_policy({"claims": {"groups": ["/tenants/application"]}}) == {"restricted": false}
	labels_claims_policy({"claims": {"org": "a", "groups": ["/tenants/application"]}}) == {"restricted": false}
	labels_claims_policy({"claims": {"org": "a", "groups": ["/tenants/other"]}}) == {"restricted": true, "selectors": ["{env=\"dev\"}"]}
}

test_label_policy_claims_without_claim_data_grant_nothing if {
	not lokistack.label_policy with input as req({"claims": {"org": "a"}}) with data.roles as labels.roles with data.roleBindings as []
}

# The package document (the Data API's /v1/data/lokistack) gains label_policy only: the helpers are
# functions, which a document never shows.
test_package_document_keys if {
	doc := lokistack with input as req({"subject": "alice"}) with data.roles as labels.roles with data.roleBindings as labels.roleBindings
	{key | some key, _ in doc} == {"allow", "label_policy", "matched_role_binding"}
}
