"""Every default threshold, timeout, TTL and size, each with a one-line reason.

Settings (alpr.settings) start from these values; nothing else in the code base
hard-codes a tunable number.
"""

# --- Redis and namespacing ------------------------------------------------
REDIS_URL = "redis://127.0.0.1:6379/0"  # local single-box install works out of the box
NAMESPACE = "alpr:"  # every key we write starts with this, so Redis can be shared
SOCKET_TIMEOUT_S = 5.0  # a blocked Redis call must not hang a worker forever
CONNECT_TIMEOUT_S = 3.0  # fail fast on a dead host, then let Retry back off
RETRY_BASE_S = 0.1  # first backoff step after a lost connection
RETRY_CAP_S = 2.0  # reconnect within the 5 s promise even after many failures
RETRY_ATTEMPTS = 0  # 0 = retry forever: long-running processes never give up on Redis
HEALTH_CHECK_S = 5  # ping an idle pooled connection before use, so a restarted Redis is noticed
TLS_CERT_REQS = "required"  # rediss:// verifies the server certificate unless told otherwise

# --- Queues and frames -----------------------------------------------------
FRAME_QUEUE = "frames"  # shared pull queue every worker listens to
MAX_FRAME_AGE_S = 5.0  # a plate read older than this is useless at a gate
INFLIGHT_CAP = 8  # per-camera frames waiting; beyond it the oldest is dropped (latest wins)
JPEG_QUALITY = 90  # keeps 1-px glyph strokes sharp for OCR at ~200 KB per 1080p frame
PRODUCER_FPS = 15.0  # the fleet's per-camera design rate
BATCH_MAX = 32  # most frames one RQ job's run takes under load (RQ's per-job cost, and read-ahead restarting, once per batch)
PREPARE_WAIT_S = 1.0  # a read-ahead decode waits at most this for the current frame's detector (CPU models)
JOB_TIMEOUT_S = 60  # RQ job timeout: a micro-batch on a Nano takes < 1 s; 60 s means a hang
RESULT_TTL_S = 10  # RQ results are not used (results go to the stream); keep them briefly
FAILURE_TTL_S = 3600  # keep failed jobs an hour for `rq info` / dashboards, then drop them
RESULTS_MAXLEN = 100000  # approximate trim of the results stream (~minutes of a big fleet)
EVENTS_MAXLEN = 100000  # approximate trim of the events stream

# --- Worker ------------------------------------------------------------------
HEARTBEAT_S = 1.0  # node liveness period; a dead node is noticed within 3 periods
NODE_TTL_FACTOR = 3  # alive key expires after this many missed heartbeats
REAPER_GRACE_S = 3.0  # after a node's alive key lapses, wait this long before reaping its frames
QUEUED_HOLD_S = 60.0  # a frame whose RQ job still waits is left to the worker (stale) this long before the sweep calls it lost
ORPHAN_AFTER_S = 1.0  # a stored frame on no node and in no queue this long lost its job (crash ate a pop): enqueue it again
WARMUP_RUNS = 2  # first inferences allocate and autotune; keep them out of frame latency
METRICS_PORT = 0  # 0 = no Prometheus endpoint unless asked for
WORKER_ENGINE = "pipeline"  # the real models; null / sleep:<s> are for benchmarks
DEQUEUE_POLL_S = 1  # idle workers re-check drain state this often (RQ blocks up to 405 s)
RQ_BEAT_S = 10.0  # RQ's own worker-key heartbeat (3 round trips, once per job in RQ's loop) at most this often; the key lives 480 s

# --- Detection -----------------------------------------------------------------
DET_CONF = 0.4  # platedet's own detect_read threshold; lower adds false plates
DET_IOU = 0.4  # NMS overlap; plates rarely overlap, so a tight value is safe
MAX_PLATES = 8  # more plates than this in one frame is almost surely noise
LETTERBOX_FILL = 114  # YOLO training pad colour; other values shift scores
MIN_PLATE_PX = 4  # boxes thinner than this cannot hold a legible glyph
MAX_IMAGE_PIXELS = 100 * 1000 * 1000  # most pixels we decode: ~5x any camera frame (300 MB as BGR); refuses header bombs
MIN_REDUCED_CROP_PX = 64  # plates at least this wide in the DCT-reduced picture are read from it (br: 53/58 vs 47/58 full-res); narrower ones from full resolution

# --- OCR -------------------------------------------------------------------------
OCR_MAX_TOKENS = 16  # longest plate + region + end token; bounds decoder loops
MIN_PLATE_LEN = 0  # 0 = keep every read; set e.g. 5 to drop fragments
OCR_MIN_CONF = 0.0  # reads below this confidence are dropped (0 keeps all)

# --- Runtimes --------------------------------------------------------------------
RUNTIME = "onnxruntime"  # runs everywhere; TensorRT is opt-in per node
INTRA_OP_THREADS = 0  # 0 = let ONNX Runtime pick (one per core)
OCR_INTRA_OP_THREADS = 1  # the OCR's small autoregressive steps: 23 ms/frame on 1 thread vs 28 on 2 here, and a core stays free for the next frame's decode
INTER_OP_THREADS = 1  # models are sequential graphs; more threads only add contention
TRT_WORKSPACE_MB = 256  # the seed's value; fits a 2 GB Nano beside the OS and worker
TRT_FP16 = True  # Nano's Maxwell GPU has fast FP16; halves memory and time
DECODE_THREADS = 0  # JPEGs with restart markers decode in this many strips at once; 0 = min(4, cores)
TRIM_OUTPUTS = True  # platedet's unread mask-prototype branch is ~25% of its CPU time; kept outputs stay bit-identical
ENGINE_CACHE_DIR = "~/.cache/alpr/engines"  # engines are per-GPU and per-TRT, kept locally
TRT_ALLOW_BUILD = True  # a worker may build a missing/stale engine (minutes on a Nano) rather than refuse
TRT_ZERO_COPY = "auto"  # mapped host memory for inputs on unified-memory Jetsons only (never/inputs/all)
TRT_OCR_MAX_BATCH = 8  # OCR profile max batch: the most plates (MAX_PLATES) read in one call
TRT_PROFILE_MAX_SEQ = 16  # decoder profile max sequence length (= OCR_MAX_TOKENS)
TRT_CALIB_MAX_IMAGES = 500  # TensorRT's guidance: ~500 representative frames calibrate well
PREPARE_RTOL = 5e-3  # converted-vs-original max |diff| / max |ref|: fp16 interiors round at ~1e-3
PREPARE_ATOL = 1e-4  # absolute slack for outputs whose reference is all ~0

# --- Dispatcher ------------------------------------------------------------------
GROUP_WINDOW_S = 3.0  # a car unseen for this long has left: close its group, emit event
GROUP_SIMILARITY = 0.8  # Jaro-Winkler above this = same plate misread in one char or two
DEDUP_WINDOW_S = 60.0  # same plate on the same camera within this = same visit, no new event
DEDUP_SIMILARITY = 0.9  # stricter than grouping: over 60 s a camera sees many plates, one char apart is a misread
RECENT_TTL_S = 3600.0  # "seen in the last N s" answers up to an hour back
DISPATCH_BLOCK_MS = 1000  # XREADGROUP block time; bounds shutdown latency
DISPATCH_BATCH = 256  # stream entries read per call
CLAIM_IDLE_MS = 10000  # pending entries idle this long belong to a dead dispatcher: claim them
WEBHOOK_TIMEOUT_S = 3.0  # a slow webhook must not stall the event stream
WEBHOOK_RETRIES = 3  # then the event is counted as webhook_failed (it stays in the stream)

# --- Event store, evidence and API --------------------------------------------------
STORE_CONNECT_TIMEOUT_S = 3  # a dead PostgreSQL host is noticed quickly; results stay pending in Redis
SQLITE_BUSY_TIMEOUT_MS = 5000  # SQLite waits this long for another writer (API, second dispatcher)
STORE_RETRY_BASE_S = 0.5  # first wait before trying a database that failed again
STORE_RETRY_CAP_S = 5.0  # longest wait between tries while the database is down (catch-up starts within it)
EVIDENCE_CROP_WIDTH = 160  # plate crop JPEG width in px: ~2-5 KB, legible for an operator
EVIDENCE_CROP_QUALITY = 80  # plate crop JPEG quality
EVIDENCE_FRAME_WIDTH = 640  # frame snapshot width in px (0 = no frame); ~30-40 KB at quality 70
EVIDENCE_FRAME_QUALITY = 70  # frame snapshot JPEG quality: the car, not the glyphs
EVIDENCE_MAX_AGE_DAYS = 30.0  # evidence older than this is purged (0 = keep by age forever)
EVIDENCE_QUOTA_MB = 1024.0  # evidence on disk above this is purged oldest first (0 = no quota)
DATA_DIR = "~/.local/share/alpr"  # SQLite store and evidence directory when none is named
SEARCH_LIMIT = 50  # events a search returns unless asked for fewer or more
SEARCH_MAX_LIMIT = 1000  # the most events one search or API page may return
SEARCH_MIN_SCORE = 60.0  # rapidfuzz ratio (0-100) below which a fuzzy match is not shown
SEARCH_CANDIDATES = 5000  # rows the trigram index hands to the ranker at most
KNOWN_PLATES_REFRESH_S = 10.0  # the dispatcher re-reads known plates from the store this often
API_PORT = 8080  # `alpr serve` port unless told
API_HOST = "127.0.0.1"  # the API is bound to loopback unless told; elsewhere it needs a token

# --- Logging ------------------------------------------------------------------------
LOG_LEVEL = "INFO"  # operators see lifecycle lines, not per-frame spam

# --- Evaluation and benchmarks ---------------------------------------------------------
EVAL_IOU = 0.3  # the detection criterion: a read box this close to the label counts
OPENALPR_DIR = "../shared/data/openalpr-endtoend"  # shared benchmark photos, relative to the checkout
BENCH_REPEAT = 1  # passes over the image set per bench run (more = steadier fps)
BENCH_WARMUP = 2  # frames run before timing: first calls allocate and autotune
SCENE_SIZE = (1280, 720)  # synthetic scene width, height: a typical 720p gate camera frame
