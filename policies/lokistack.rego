# The LokiStack static authorization policy: the Loki Operator's lokistack-gateway.rego, with the same
# decisions for every input the gateway sends. Roles and roleBindings are the policy's data
# (data.roles, data.roleBindings), in observatorium/api's rbac.yaml shape.
#
# One hardening over the operator's policy: input of the wrong shape never allows. The operator's
# `input.groups[_]` iterates an object's values too, so {"groups": {"x": "admins"}} would match the
# group "admins"; here only a list of groups is read.
package lokistack

import rego.v1

default allow := false

allow if {
	some i in matched_role_binding
	some role_name in data.roleBindings[i].roles
	some role in data.roles
	role.name == role_name
	input.resource in role.resources
	input.permission in role.permissions
	input.tenant in role.tenants
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
