# The LokiStack authorization policy: the Loki Operator's lokistack-gateway.rego, with the same
# decisions for every input the gateway sends. Roles and roleBindings are the policy's data
# (data.roles, data.roleBindings), in observatorium/api's rbac.yaml shape.
#
# One hardening over the operator's policy: input of the wrong shape never allows. The operator's
# `input.groups[_]` iterates an object's values too, so {"groups": {"x": "admins"}} would match the
# group "admins"; here only a list of groups is read.
#
# Dynamic mode adds rules over input.claims, the claims the service verified with the tenant's
# identity provider (never what a caller sends: the service replaces them). Their data,
# data.claimRoleBindings and data.tenantClaims, is refused in static mode, so static decisions are
# exactly the operator's.
package lokistack

import rego.v1

default allow := false

allow if {
	some i in matched_role_binding
	some role_name in data.roleBindings[i].roles
	role_grants(role_name)
}

# A role binding by claim: the verified claim holds one of the binding's values.
allow if {
	some binding in data.claimRoleBindings
	some value in claim_values(binding.claim)
	value in binding.values
	some role_name in binding.roles
	role_grants(role_name)
}

# A claim that names the tenant itself: a verified claim value equal to the prefix followed by the
# request's tenant ID (the X-Scope-OrgID, which dynamic mode sets from tenants.yaml), or its name
# where the rule says field: tenant, grants the listed resources and permissions on that tenant.
allow if {
	some rule in data.tenantClaims
	some value in claim_values(rule.claim)
	value == concat("", [rule.prefix, tenant_named_by(rule)])
	input.resource in rule.resources
	input.permission in rule.permissions
}

tenant_named_by(rule) := input.tenantID if {
	rule.field == "tenantID"
	is_string(input.tenantID)
}

tenant_named_by(rule) := input.tenant if {
	rule.field == "tenant"
	is_string(input.tenant)
}

role_grants(role_name) if {
	some role in data.roles
	role.name == role_name
	input.resource in role.resources
	input.permission in role.permissions
	input.tenant in role.tenants
}

# A claim's values: a string claim is one value, a list claim its string members.
claim_values(name) := {v | v := input.claims[name]; is_string(v)} if {
	is_object(input.claims)
	is_string(input.claims[name])
}

claim_values(name) := {v | some v in input.claims[name]; is_string(v)} if {
	is_object(input.claims)
	is_array(input.claims[name])
}

# Indexes of the role bindings whose subjects name the caller, as a user or through a group.
matched_role_binding contains i if {
	some i, binding in data.roleBindings
	some subject in binding.subjects
	subject == {"kind": "user", "name": input.subject}
}

matched_role_binding contains i if {
	is_array(input.groups)
	some i, binding in data.roleBindings
	some subject in binding.subjects
	some group in input.groups
	subject == {"kind": "group", "name": group}
}
