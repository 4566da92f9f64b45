-- wrk script: POST one photo to /v1/access as a camera would.
-- FACECMP_KEY: a camera key; FACECMP_PHOTO: the photo (default tests/data/obama2.jpg).
local photo = os.getenv("FACECMP_PHOTO") or "tests/data/obama2.jpg"
local file = assert(io.open(photo, "rb"))
wrk.method = "POST"
wrk.body = file:read("*all")
file:close()
wrk.headers["Content-Type"] = "image/jpeg"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("FACECMP_KEY"), "set FACECMP_KEY")
