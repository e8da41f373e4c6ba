"""misync: keeps a school assessment platform's roster in step with the school's MIS."""
