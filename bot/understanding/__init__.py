"""Understanding what a person means: which path a message takes, follow-ups, other agencies.

routing decides whether a message is a question or a formal request; follow_up reads an elliptical
question (「那要钱吗」) with the subject in focus; referral recognises another agency's business;
dialogue finds, in Rasa's tracker events, what the person actually typed; evaluation plays written
conversations through Rasa and scores how each turn was routed and answered.
"""
