// Package recordings owns the recordings: section of pivotua's config file (the folder
// and how long local recordings are kept),
// as Settings with its defaults and its checks, each problem named by its path.
//
// It imports httpfetch (whose Uploader delivers recordings) and no other pivotua package;
// cmd/pivotua reads the file, hands this package its section and wires the result.
package recordings
