"""Pure rules of the credit-rating service: plain values in, values out; no I/O."""
