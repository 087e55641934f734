// Package recordings owns what happens to a recording once flow has written it under
// recordings.dir: the Server that serves TwiML <Record> files at unguessable, signed links
// (flow's RecordingLinker), and the purge that deletes local recordings older than
// recordings.retention, never one still waiting in the upload spool nor one of a live call.
//
// It owns the recordings: section of pivotua's config file too (the folder, the retention,
// and the size of the upload pool that delivers recordings), as Settings with its defaults
// and its checks, each problem named by its path; cmd/pivotua reads the file, hands this
// package its section and wires the result.
//
// It imports flow (for the RecordingLinker it implements) and httpfetch (whose Uploader the
// pool sizes); neither may import it.
package recordings
