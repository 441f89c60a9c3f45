"""Training, ternary quantization and ANN-to-SNN conversion of recurrent networks."""
