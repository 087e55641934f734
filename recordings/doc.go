// Package recordings owns the recordings: section of pivotua's config file (the folder,
// how long local recordings are kept, and the size of the upload pool that delivers them),
// as Settings with its defaults and its checks, each problem named by its path.
//
// It imports httpfetch (whose Uploader the pool sizes) and no other pivotua package;
// cmd/pivotua reads the file, hands this package its section and wires the result.
package recordings
