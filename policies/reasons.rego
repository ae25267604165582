# Why data.lokistack.allow decided as it did, with the names the policy's data gives: which role
# binding (by subject or by claim) and which role granted, or which tenantClaims rule; on a deny,
# what matched the caller without granting this request.
#
# Its own package, not rules beside allow: the lokistack package document (what any OPA client can
# read at /v1/data/lokistack) must not carry role and binding names, and evaluating it must not pay
# for them. The service evaluates data.lokistack_reasons.why only when a reason is wanted (the
# decision log is on, or ?reasons=true with --web.reasons) and hides this package from the Data API.
#
# It reuses the lokistack package's functions, so the reasons cannot drift from what allow reads;
# rules may call them (OPA 1.22's Wasm build refuses only a function that calls another function),
# and the one function here calls none.
package lokistack_reasons

import rego.v1

import data.lokistack

why := {
	"allow": lokistack.allow,
	"grants": grants,
	"matched": matched,
}

# A role binding whose subject names the caller, and one of its roles that grants the request.
grants contains {"kind": "role_binding", "index": i, "binding": object.get(binding, "name", null), "subject": subject, "role": role_name} if {
	some i in lokistack.matched_role_binding
	binding := data.roleBindings[i]
	some subject in binding.subjects
	names_caller(subject)
	some role_name in binding.roles
	lokistack.role_grants(role_name)
}

# A role binding by claim (dynamic mode): the verified claim value, and the role that grants.
grants contains {"kind": "claim_role_binding", "index": i, "binding": object.get(binding, "name", null), "claim": binding.claim, "value": value, "role": role_name} if {
	some i, binding in data.claimRoleBindings
	some value in lokistack.claim_values(binding.claim)
	value in binding.values
	some role_name in binding.roles
	lokistack.role_grants(role_name)
}

# A tenantClaims rule (dynamic mode): the claim value that names the tenant. Its rules have no names.
grants contains {"kind": "tenant_claim", "index": i, "claim": rule.claim, "value": value, "field": rule.field} if {
	some i, rule in data.tenantClaims
	some value in lokistack.claim_values(rule.claim)
	value == concat("", [rule.prefix, lokistack.tenant_named_by(rule)])
	input.resource in rule.resources
	input.permission in rule.permissions
}

# What names the caller, granting or not: on a deny, a binding here whose roles grant nothing for
# this tenant, resource and permission tells the reader to look at the roles, not the subjects.
matched contains {"kind": "role_binding", "index": i, "binding": object.get(data.roleBindings[i], "name", null), "roles": data.roleBindings[i].roles} if {
	some i in lokistack.matched_role_binding
}

matched contains {"kind": "claim_role_binding", "index": i, "binding": object.get(binding, "name", null), "claim": binding.claim, "value": value, "roles": binding.roles} if {
	some i, binding in data.claimRoleBindings
	some value in lokistack.claim_values(binding.claim)
	value in binding.values
}

matched contains {"kind": "tenant_claim", "index": i, "claim": rule.claim, "value": value, "field": rule.field} if {
	some i, rule in data.tenantClaims
	some value in lokistack.claim_values(rule.claim)
	value == concat("", [rule.prefix, lokistack.tenant_named_by(rule)])
}

# The subject of a binding that names the caller: as lokistack.matched_role_binding compares them.
names_caller(subject) if subject == {"kind": "user", "name": input.subject}

names_caller(subject) if {
	is_array(input.groups)
	some group in input.groups
	subject == {"kind": "group", "name": group}
}
