package main

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/pivotua/pivotua/codec"
)

// TestE2EConferencePlacedCallJoinsARoom: a call placed through the Calls API runs a <Dial><Conference>
// and meets an inbound caller in the room: each hears the other's tone and never its own. Ending the
// placed call through the API takes it out of the room with a BYE.
func TestE2EConferencePlacedCallJoinsARoom(t *testing.T) {
	needE2E(t)
	const doc = `<Response><Dial><Conference beep="false" waitUrl="">desk</Conference></Dial></Response>`
	hook := conferenceHook(t, "", doc)
	p := startPivotua(t, dialTwiMLFlow(hook.URL+"/voice"))

	bob := newDialPeer(t, codec.PCMU, 600)
	bobUAS := startUAS(t, "uas_answer.xml", uasData{RTPPort: bob.port(), Codec: 0}) // waits for our BYE
	status, created := apiRequest(t, p, "POST", "/Calls.json", url.Values{
		"To": {fmt.Sprintf("sip:bob@127.0.0.1:%d", bobUAS.port)}, "From": {"+15550100"}, "Twiml": {doc},
	})
	sid, _ := created["sid"].(string)
	if status != 201 || sid == "" {
		t.Fatalf("calls.create: %d %v", status, created)
	}
	time.Sleep(time.Second) // bob answers and waits in the room

	alice := newDialPeer(t, codec.PCMA, 700)
	runs := startCallers(t, p, 0, "uac_bye_after.xml", alice) // in the room for 4 s
	if err := runs[0].Wait(20 * time.Second); err != nil {
		t.Fatalf("the inbound caller: %v\n%s", err, p.logs())
	}
	if status, body := apiRequest(t, p, "POST", "/Calls/"+sid+".json", url.Values{"Status": {"completed"}}); status != 200 {
		t.Fatalf("hang up the placed call: %d %v", status, body)
	}
	if err := bobUAS.wait(t, 10*time.Second); err != nil {
		t.Fatalf("the placed call's callee did not get BYE: %v", err)
	}
	hears(t, "the inbound caller", alice.heard(8), 100, []float64{600}, []float64{700})
	hears(t, "the placed call's callee", bob.heard(0), 100, []float64{700}, []float64{600})
}
