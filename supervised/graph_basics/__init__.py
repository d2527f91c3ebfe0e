"""graph-basics: the book's chapter-1 computation graphs."""
