package io.spoor;

/** What a thread does when its ring is full ({@code spoor_full_policy}). */
public enum FullPolicy {
    /** Drop the report and count it (the default): the caller never waits. */
    DROP,
    /** Wait for the collector, at most the block timeout, then drop and count. */
    BLOCK,
    /** Keep the newest: free the oldest undrained reports (a flight recorder). */
    OVERWRITE
}
