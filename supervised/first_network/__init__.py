"""first-network: the book's chapter-2 single sigmoid layer and activation gallery (config, model, train, report)."""
