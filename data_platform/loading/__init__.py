"""Loading: how every raw ingest reads its source into batches, screens them and writes the
lake and the warehouse, and the one decorator of the raw assets."""
