"""Pure rules of the subsidy service: plain values in, values out; no I/O."""
