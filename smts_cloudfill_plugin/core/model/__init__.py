"""The model: configuration, network, classical prior, weights, device."""
