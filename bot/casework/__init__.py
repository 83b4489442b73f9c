"""Formal requests, from the form to the agency's case system.

request_kinds names the kinds of request (labels, tracking prefixes); request_forms says what each
form asks and checks; drafts keeps a form's answers until it is submitted; outbox stores a submitted
request durably, and outbox_delivery sends it to the case system through case_client, retrying until
it is accepted (outbox_metrics reports both); case_desk is what the request actions call;
tracking_numbers makes and checks the numbers people are given.
"""
