"""The ceremony core's I/O shell: the asyncio service, the event stores and the document store.

Everything here waits on something (a lock, a thread, a disk); the modules one
level up never do. The service is handed its store, documents and clock by
whoever builds it, so another `EventStore` can take SQLite's place.
"""
