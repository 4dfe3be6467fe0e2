-- Refunds by an admin are transfers of kind 'payment_refund' whose ref names the original
-- ('refund:<transfer id>'); what is left to refund is the original less their sum. This
-- index answers that sum, read in the refund's own transaction, without a scan.
CREATE INDEX transfers_refunds ON transfers (ref) WHERE kind = 'payment_refund';
