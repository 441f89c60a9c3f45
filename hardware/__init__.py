"""DYNAP-SE hardware: spec, design rules, mapping, biases, configuration, samna adapter, emulation."""
