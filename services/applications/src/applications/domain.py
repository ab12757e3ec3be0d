"""Pure rules of the applications service: plain values in, values out; no I/O."""
