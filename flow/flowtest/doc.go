// Package flowtest is the test double of flow's one seam and the few lines every flow test starts
// with, as sipgo's siptest is for sipgo: Channel, a fake flow.Channel that records what the
// interpreter asked of it; ToneSpeaker and Speaker, text to speech without (or with) flite;
// NewCall, Run and MustNode to run a callflow on a Channel; PivotFlow, the pivot callflow most
// tests fetch their document with; ServeWAV for play/<Play>; Exchanges to collect debug records.
//
// A new verb's test is a webhook that serves the document (internal/testkit), a Channel, and a
// check of what the Channel saw:
//
//	app := testkit.NewWebhook(t, testkit.ServeDocs(map[string][2]string{"/ivr": {"text/xml", `<Response><Pause length="1"/></Response>`}}))
//	ch := flowtest.NewChannel()
//	flowtest.Run(t, flowtest.NewCall(t, ch, nil), flowtest.MustNode(t, flowtest.PivotFlow(app.URL+"/ivr", "", false)))
//	flowtest.EqualEvents(t, ch.Events(), []string{"answer", "hangup"})
//
// It imports flow, so flow's own tests that use it are in package flow_test and reach flow through
// its exported API (and export_test.go for the few internals they check). It imports flow, codec,
// httpfetch and internal/testkit; nothing but tests may import it.
package flowtest
