"""Payout gateways: adapters behind ``bot.wallet.gateway.PayoutGateway``."""
