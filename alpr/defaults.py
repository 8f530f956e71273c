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
REDIS_RETRIES = 2  # redis-py's own resends of one command (or reconnect) on a client: 0.2+0.4 = 0.6 s of backoff rides through a restart; a longer outage reaches the caller's loop, which checks for SIGTERM between tries
MIN_REDIS_VERSION = (6, 2)  # XAUTOCLAIM (dispatcher), BLMOVE (rq >= 2), ZADD GT: older servers refuse them mid-run
SENTINEL_RETRIES = 2  # a Sentinel client's own retries of a call: redis-py 5+ retries a broken call on the old host, so keep them short; the caller's Retry then reconnects through the sentinels
HEALTH_CHECK_S = 5  # ping an idle pooled connection before use, so a restarted Redis is noticed
TLS_CERT_REQS = "required"  # rediss:// verifies the server certificate unless told otherwise

# --- Queues and frames -----------------------------------------------------
FRAME_QUEUE = "frames"  # shared pull queue every worker listens to
MAX_FRAME_AGE_S = 5.0  # a plate read older than this is useless at a gate
INFLIGHT_CAP = 8  # per-camera frames waiting; beyond it the oldest is dropped (latest wins)
JPEG_QUALITY = 90  # keeps 1-px glyph strokes sharp for OCR at ~200 KB per 1080p frame
PRODUCER_FPS = 15.0  # the fleet's per-camera design rate
CAMERA_CATCHUP_READ_S = 0.005  # after a (re)open, a read that waited this long came off the network: the probe backlog is drained, frames are live
CAMERA_STALL_S = 5.0  # a live stream that sends no frame this long has stalled: reopen it (= the default max frame age)
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
HOLD_GRACE_S = 2.0  # a frame held longer than the job timeout plus this sat in a stuck engine: the reaper fails it `timeout`
FLEET_WATCH_PERIOD_S = 0.5  # the fleet watch ticks this often: a dead node is reaped within grace + this
PROGRESS_FRESH_S = 10.0  # alpr-watchdog: a worker whose progress file is older than this (10 heartbeats) made no progress
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
DET_ZOOM_CONF = 0.25  # threshold of the second, zoomed look at a frame with no plate (0 = off): small plates score lower; docs/recognition.md
DET_ZOOM_EVERY = 4  # a worker zooms one in 4 of a stream's frames with no plate: a zoomed look costs 4.8x an empty frame (measured), so ~2x on an empty stream (computed); photos (eval, read) every one
DET_VERIFY_CONF = 0.2  # boxes scored in [this, DET_CONF) are kept only if their read fits a specific plate format of the camera (0 = off): platedet half-believes unusual plates
MAX_PLATES = 8  # more plates than this in one frame is almost surely noise
LETTERBOX_FILL = 114  # YOLO training pad colour; other values shift scores
MIN_PLATE_PX = 4  # boxes thinner than this cannot hold a legible glyph
MAX_IMAGE_PIXELS = 100 * 1000 * 1000  # most pixels we decode: ~5x any camera frame (300 MB as BGR); refuses header bombs
MIN_REDUCED_CROP_PX = 64  # plates at least this wide in the DCT-reduced picture are read from it (br: 53/58 vs 47/58 full-res); narrower ones from full resolution

# --- OCR -------------------------------------------------------------------------
OCR_MAX_TOKENS = 16  # longest plate + region + end token; bounds decoder loops
MIN_PLATE_LEN = 0  # 0 = keep every read; set e.g. 5 to drop fragments
OCR_MIN_CONF = 0.0  # reads below this confidence are dropped (0 keeps all)
OCR = "ppocr"  # PP-OCR line locator + CTC recogniser: reads br, eu and us plates (platerec: Mercosul only)
PLATE_REGIONS = ()  # formats in force when a camera names none: none (reads kept as read)
OCR_LINE_LOCATOR = True  # find the plate's own text lines (drops US state names, EU bands; reads two-line plates)
OCR_LOCATOR_HEIGHT = 128  # text detector input height for a plate crop (px): PP-OCR-det needs ~30 px characters; us 48/60 at 128 vs 43 at 96 and 160 (docs/recognition.md)
OCR_ONE_LINE_ASPECT = 2.4  # crops at least this wide (w/h, margins included) are one line, read without the locator: EU 4.2, Mercosul cars 2.8, US 1.8, motorcycles ~1.0
OCR_MAX_WIDTH = 256  # widest recogniser input (px at height 48); wider lines are squeezed (8 characters need >= 136)

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
TRT_IMAGE_DIMS = (32, 160, 512)  # min/opt/max of a dynamic image height/width: recogniser lines are 64-256 wide (buckets of 32), locator crops 128 high and <= 3 x 128 wide
TRT_PROFILE_MAX_SEQ = 16  # decoder profile max sequence length (= OCR_MAX_TOKENS)
TRT_LEAN_TACTICS = True  # build without cuBLAS/cuDNN tactics so TensorRT need not load those libraries (est. ~400 MB host RAM on a Nano; unmeasured)
TRT_LAYERNORM_FP32 = True  # LayerNorm's Pow/ReduceMean/Sqrt overflow in FP16 (ORT's TensorRT EP forces them to FP32 too)
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

# --- MQTT, Home Assistant and alert rules (dispatcher) --------------------------------
MQTT_PREFIX = "alpr"  # topics <prefix>/events, <prefix>/<camera>/plate, <prefix>/status, <prefix>/health
MQTT_DISCOVERY_PREFIX = "homeassistant"  # Home Assistant's default discovery prefix
MQTT_KEEPALIVE_S = 15  # the broker sends the last will within 1.5x this of a silent (hung, unplugged) dispatcher
MQTT_RECONNECT_MIN_S = 1  # paho's first reconnect wait after the broker went away
MQTT_RECONNECT_MAX_S = 30  # paho's longest reconnect wait (doubling from the minimum)
MQTT_BACKLOG = 1000  # messages kept in memory while the broker is down; beyond it the oldest are dropped (counted)
MQTT_PRESENCE_S = 300.0  # a label's binary sensor ("a resident's car is here") turns off this long after its last event
MQTT_HEALTH_S = 10.0  # fleet health (<prefix>/health, retained) is republished this often
DISPATCHER_STATS_S = 5.0  # the dispatcher writes its counters (MQTT, alerts) to Redis this often for `alpr status`
ALERT_RATE_LIMIT_S = 300.0  # a rule fires at most once per plate in this long, unless the rule says otherwise
ALERT_TIMEZONE = "UTC"  # alert schedules are read in this timezone unless the settings name one
ALERT_MESSAGE = "{rule}: {plate} at {camera}"  # an alert's text unless its rule has a message
ALERTS_MAXLEN = 10000  # approximate trim of the alerts stream (the console banner reads the newest)

# --- alpr doctor (a node's first-run checks) -------------------------------------
WORKER_MEMORY_MB = 1400  # the worker's limit in both memory profiles (compose mem_limit = systemd MemoryMax)
FIRST_BUILD_SWAP_MB = 4096  # a first engine build on a 2 GB Nano peaks above its RAM: 4 GB swap file
CLOCK_SKEW_WARN_S = 0.5  # frame ages (MAX_FRAME_AGE_S) are measured across clocks: half a second shows
CLOCK_SKEW_FAIL_S = 2.5  # half of MAX_FRAME_AGE_S: fresh frames would look stale (or stale ones fresh)
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
CONSOLE_SESSION_TTL_S = 12 * 3600.0  # a console login lasts one working shift
CONSOLE_MAX_SESSIONS = 2000  # sessions kept in memory; the oldest is dropped past this
CONSOLE_LOGIN_FAIL_DELAY_S = 1.0  # a wrong password waits this long (slows guessing)
CONSOLE_FORM_MAX_BYTES = 1024 * 1024  # a posted form (a known-plates CSV import) at most
CONSOLE_SSE_BLOCK_MS = 1000  # the console's XREAD BLOCK on the events/alerts/results streams
CONSOLE_SSE_KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream
CONSOLE_SSE_REPLAY = 50  # entries a reconnecting page is sent from before it joined
CONSOLE_LIVE_EVENTS = 20  # events (and alerts) the Live page shows when it opens
CONSOLE_CLIENT_QUEUE = 500  # entries queued per page before a slow page is dropped

# --- Logging ------------------------------------------------------------------------
LOG_LEVEL = "INFO"  # operators see lifecycle lines, not per-frame spam

# --- Evaluation and benchmarks ---------------------------------------------------------
EVAL_IOU = 0.3  # the detection criterion: a read box this close to the label counts
OPENALPR_DIR = "../shared/data/openalpr-endtoend"  # shared benchmark photos, relative to the checkout
BENCH_REPEAT = 1  # passes over the image set per bench run (more = steadier fps)
BENCH_READ_IMAGES = 20  # dev photos each runtime reads in `alpr bench engines`: shows an FP16 misread without a long first run
BENCH_WARMUP = 2  # frames run before timing: first calls allocate and autotune
SCENE_SIZE = (1280, 720)  # synthetic scene width, height: a typical 720p gate camera frame
