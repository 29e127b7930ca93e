"""Models behind real OpenAI-compatible servers: started on loopback (servers), loaded with
traffic-shaped requests (load), and summed up into latency, throughput and goodput (figures)."""
