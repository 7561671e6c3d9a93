"""The RAG indexer plugin: index folders into SQLite collections (FTS5 + vectors), search
them (vector, keyword, hybrid), and feed them to workflows through a retriever node."""
