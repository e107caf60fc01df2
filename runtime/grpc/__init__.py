"""The gRPC service's messages and stubs, generated from inference.proto by `make proto` (committed; not edited)."""
