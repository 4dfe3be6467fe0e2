-- A person's coupons of one campaign, counted by every grant and redemption (the
-- per-person limit) inside their writes: an index, not a scan of every coupon.
CREATE INDEX coupons_by_campaign_holder ON coupons (campaign_id, holder_id);
