"""Brian2 spiking substrate: LIF, AdEx and DPI neurons, DYNAP-SE synapses, mismatch, noise."""
