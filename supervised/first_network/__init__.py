"""first-network: the book's chapter-2 sigmoid layer and the activation gallery."""
