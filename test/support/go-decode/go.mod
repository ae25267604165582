module lokistack-authz/go-decode

go 1.22

require sigs.k8s.io/yaml v1.5.0

require go.yaml.in/yaml/v2 v2.4.2 // indirect

// go.yaml.in/yaml/v2's go.mod names its test-only dependency; a local stub keeps the build offline.
replace gopkg.in/check.v1 => ./stub/check
