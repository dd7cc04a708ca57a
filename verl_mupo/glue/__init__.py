"""verl glue: the registrations, the trainer hook and the batch entry point. Everything here imports
verl; the math it calls lives one level up and does not."""
