"""Reading, writing and rendering scans: 8-bit false colour and 16-bit dual energy."""
