"""Model adapters: each turns frames into one model's inputs and its outputs into
detections or text reads, talking only to the runtime contract (any runtime fits)."""
