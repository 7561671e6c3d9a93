"""The RAG plugin: folders indexed into SQLite collections, searched, and retrieved from in workflows."""
