"""The knowledge base: self-service articles in English and French, and their search."""
