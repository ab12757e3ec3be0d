"""Pure rules of the risk-pool service: plain values in, values out; no I/O."""
