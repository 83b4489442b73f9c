"""Personal data: what is checked and masked, where it is kept, and when it goes.

validation checks and masks the identifiers people type (ID numbers, phones, e-mails), so they are
stored and reported only masked; private_files makes the SQLite files that hold them readable by
their owner alone; retention deletes conversations once their retention period has passed, reading
the tracker database that tracker_db locates; erasure removes one person's data on request (PIPL).
"""
