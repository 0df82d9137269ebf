-- Time to first token in milliseconds, when the gateway logs it (LiteLLM `completionStartTime`,
-- Langfuse `completion_start_time`, Helicone `time_to_first_token`, OTel
-- `gen_ai.server.time_to_first_token`). NULL for rows that do not carry it.
ALTER TABLE requests ADD COLUMN ttft_ms REAL;
