"""Size limits of every upload, in one place (stated in the README, "Uploads").

A file over its limit is refused before it is decoded or parsed, so a wrong or
malicious file costs no more than its transfer; a request body over MAX_REQUEST_BYTES is
refused before it is read at all (RequestSizeLimitMiddleware). ASVS 5.0 5.2.1 (file size
limits; https://github.com/OWASP/ASVS), OWASP File Upload Cheat Sheet
(https://cheatsheetseries.owasp.org/cheatsheets/File_Upload_Cheat_Sheet.html)."""

from django.core.exceptions import ValidationError

MB = 1024 * 1024

# A 384-well plate as a reader's grid export is about 10 kB; a file of 100 plates, 1 MB.
READOUT_MAX_BYTES = 5 * MB
READOUTS_MAX_FILES = 20
# A layout lists each used well once: 384 wells x 100 plates is about 2 MB.
LAYOUT_MAX_BYTES = 2 * MB
# A logger reading every minute for 30 days is 43,200 lines of about 25 bytes: 1 MB.
LOGGER_CSV_MAX_BYTES = 2 * MB
# The directory overview (seed edition: 18 kB); read by the management command.
DIRECTORY_MAX_BYTES = 2 * MB
# A ClinicalTrials.gov API v2 JSON file (a page of 1,000 full studies is about 60 MB).
TRIALS_FILE_MAX_BYTES = 100 * MB
# Whole request bodies: every readout and the layout at their limits, plus the form.
MAX_REQUEST_BYTES = READOUTS_MAX_FILES * READOUT_MAX_BYTES + LAYOUT_MAX_BYTES + MB


def human_size(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB / 10 else f"{size:,} bytes"


def check_size(content: bytes | str, *, limit: int, field: str, what: str) -> None:
    """Refuse `content` (a file's bytes) over `limit`, naming the field."""
    size = len(content.encode() if isinstance(content, str) else content)
    if size > limit:
        raise ValidationError(
            {
                field: f"{what} is {size:,} bytes; at most {limit:,} bytes "
                f"({human_size(limit)}) are accepted."
            }
        )
