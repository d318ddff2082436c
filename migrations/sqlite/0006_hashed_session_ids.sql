-- Sessions are stored under a SHA-256 of their id from now on (issue 16): the rows kept
-- under ids in clear would never be found again, and they are the very secrets not to keep.
-- Everyone signs in once more.
DELETE FROM sessions;
