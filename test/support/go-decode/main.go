// go-decode decodes a request body exactly as the Go peers do, as the oracle for the service's
// decoder (test/go-decode.test.ts). It reads the body on stdin and prints one JSON line.
//
//	go-decode opa-json      OPA's POST /v1/data: envelope struct, input as interface{} (UseNumber)
//	go-decode opa-yaml      the same for a YAML Content-Type: valid JSON as JSON, else sigs.k8s.io/yaml
//	go-decode opa-get       OPA's GET ?input=: the bytes as one interface{} (UseNumber)
//	go-decode openshift     opa-openshift's view: envelope struct with its typed Input struct, by value,
//	                        with json.Unmarshal (the real binary, peers/opa-openshift, answers
//	                        {"input":{…},"input":null} on the first input, and 500 for trailing data)
//
// Output: {"ok":true,"input":<value re-encoded, or null>,"present":bool} or {"ok":false,"error":"..."}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"
)

// OPA's types.DataRequestV1.
type dataRequestV1 struct {
	Input *interface{} `json:"input"`
}

// opa-openshift's input (internal/handler/handler.go), fields as the reference describes them.
type extras struct {
	Selectors         map[string][]string `json:"selectors"`
	WildcardSelectors bool                `json:"wildcardSelectors"`
	MetadataOnly      bool                `json:"metadataOnly"`
}

type openshiftInput struct {
	Groups     []string `json:"groups"`
	Permission string   `json:"permission"`
	Resource   string   `json:"resource"`
	Subject    string   `json:"subject"`
	Tenant     string   `json:"tenant"`
	Extras     extras   `json:"extras"`
}

// By value, not a pointer: a later `"input":null` leaves what an earlier input decoded, and a
// repeated input decodes into the same struct (fields merge), as the real binary answers.
type openshiftRequest struct {
	Input openshiftInput `json:"input"`
}

func decoder(bs []byte) *json.Decoder {
	d := json.NewDecoder(bytes.NewReader(bs))
	d.UseNumber()
	return d
}

func main() {
	bs, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	mode := "opa-json"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "opa-json", "opa-yaml":
		if mode == "opa-yaml" && !json.Valid(bs) {
			if bs, err = yaml.YAMLToJSON(bs); err != nil {
				fail(err)
			}
		}
		var req dataRequestV1
		if err := decoder(bs).Decode(&req); err != nil {
			fail(err)
		}
		if req.Input == nil {
			out(nil, false)
		}
		out(*req.Input, true)
	case "opa-get":
		var v interface{}
		d := decoder(bs)
		if err := d.Decode(&v); err != nil {
			fail(err)
		}
		if _, err := d.Token(); err != io.EOF {
			fail(fmt.Errorf("trailing data"))
		}
		out(v, true)
	case "openshift":
		var req openshiftRequest
		if err := json.Unmarshal(bs, &req); err != nil {
			fail(err)
		}
		out(req.Input, true)
	default:
		fail(fmt.Errorf("unknown mode %q", mode))
	}
}

func out(v interface{}, present bool) {
	bs, err := json.Marshal(map[string]interface{}{"ok": true, "input": v, "present": present})
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(bs, '\n'))
	os.Exit(0)
}

func fail(err error) {
	bs, _ := json.Marshal(map[string]interface{}{"ok": false, "error": err.Error()})
	os.Stdout.Write(append(bs, '\n'))
	os.Exit(0)
}
