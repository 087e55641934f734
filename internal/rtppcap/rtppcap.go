// Package rtppcap writes RTP packets to a classic pcap file for SIPp's
// play_pcap_audio: tests and make bench make their callers' audio with it.
package rtppcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"os"
	"time"
)

// Write wraps each RTP packet in Ethernet/IPv4/UDP (127.0.0.1:6000 to
// 127.0.0.1:6002; SIPp rewrites addresses and ports when it plays them) and
// writes them to path, the packet i at offset times[i] from the capture's start.
func Write(path string, pkts [][]byte, times []time.Duration) error {
	if len(pkts) != len(times) {
		return errors.New("rtppcap: one time per packet")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4) // microsecond timestamps
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // LINKTYPE_ETHERNET
	w.Write(hdr)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, p := range pkts {
		udpLen := 8 + len(p)
		ipLen := 20 + udpLen
		frame := make([]byte, 14+ipLen)
		binary.BigEndian.PutUint16(frame[12:], 0x0800)
		ip := frame[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		copy(ip[12:], []byte{127, 0, 0, 1})
		copy(ip[16:], []byte{127, 0, 0, 1})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:], 6000)
		binary.BigEndian.PutUint16(udp[2:], 6002)
		binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
		copy(udp[8:], p)
		ts := base.Add(times[i])
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		w.Write(rec)
		w.Write(frame)
	}
	if err := w.Flush(); err != nil { // bufio keeps the first write error
		f.Close()
		return err
	}
	return f.Close()
}
