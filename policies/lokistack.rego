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

# The label policy of an allowed request (Loki's label-based access control, GEL's model): which
# streams of the tenant the caller may read. Reads of logs are limited by the selectors of the roles
# that grant them: the union of the selectors of every granting role, or the whole tenant when any
# granting role has none or a tenantClaims rule grants the tenant. Writes and every other resource
# or permission are not label-restricted. Undefined when `allow` is false, and when the granting
# roles' selectors hold no string at all (data this policy's loader refuses): the caller denies.
#
# Helper rules would show in the package document, and OPA 1.22's Wasm build of the package
# entrypoint refuses a function that calls another function; so the helpers are two leaf functions
# and the rest is spelled out in the rule bodies.
label_policy := {"restricted": false} if {
	allow
	not label_restricted(input)
}

# A tenant claim grants every stream of the tenant (the same test as allow's tenantClaims rule).
label_policy := {"restricted": false} if {
	allow
	label_restricted(input)
	some rule in data.tenantClaims
	some value in claim_values(rule.claim)
	value == concat("", [rule.prefix, tenant_named_by(rule)])
	input.resource in rule.resources
	input.permission in rule.permissions
}

# So does a granting role without selectors (the field absent or null), bound by subject or group ...
label_policy := {"restricted": false} if {
	allow
	label_restricted(input)
	some b in matched_role_binding
	some role_name in data.roleBindings[b].roles
	some role in data.roles
	role.name == role_name
	grants(role)
	object.get(role, "selectors", null) == null
}

# ... or by claim.
label_policy := {"restricted": false} if {
	allow
	label_restricted(input)
	some binding in data.claimRoleBindings
	some value in claim_values(binding.claim)
	value in binding.values
	some role_name in binding.roles
	some role in data.roles
	role.name == role_name
	grants(role)
	object.get(role, "selectors", null) == null
}

# Otherwise, the union of the granting roles' selectors. Roles sharing a name are each bound (as
# allow reads them): each brings its own selectors.
label_policy := {"restricted": true, "selectors": sort(selectors)} if {
	allow
	label_restricted(input)
	roles := {role |
		some b in matched_role_binding
		some role_name in data.roleBindings[b].roles
		some role in data.roles
		role.name == role_name
		grants(role)
	} | {role |
		some binding in data.claimRoleBindings
		some value in claim_values(binding.claim)
		value in binding.values
		some role_name in binding.roles
		some role in data.roles
		role.name == role_name
		grants(role)
	}
	count({role | some role in roles; object.get(role, "selectors", null) == null}) == 0
	count({rule |
		some rule in data.tenantClaims
		some value in claim_values(rule.claim)
		value == concat("", [rule.prefix, tenant_named_by(rule)])
		input.resource in rule.resources
		input.permission in rule.permissions
	}) == 0
	selectors := {s |
		some role in roles
		is_array(role.selectors)
		some s in role.selectors
		is_string(s)
	}
	count(selectors) > 0
}

# Only reads of logs are label-restricted.
label_restricted(request) if {
	request.permission == "read"
	request.resource == "logs"
}

grants(role) if {
	input.resource in role.resources
	input.permission in role.permissions
	input.tenant in role.tenants
}
