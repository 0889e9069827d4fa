FROM php:8.3-apache
ARG USER_ID=1000
ENV APACHE_DOCUMENT_ROOT=/var/www/html/public
RUN sed -ri -e 's!/var/www/html!${APACHE_DOCUMENT_ROOT}!g' /etc/apache2/sites-available/*.conf \
 && sed -ri -e 's!/var/www/!${APACHE_DOCUMENT_ROOT}!g' /etc/apache2/apache2.conf /etc/apache2/conf-available/*.conf
RUN docker-php-ext-install pdo_mysql opcache
COPY --from=composer:2 /usr/bin/composer /usr/bin/composer
COPY --chown=www-data:www-data . /var/www/html
RUN usermod -u ${USER_ID} www-data
HEALTHCHECK --interval=1m --timeout=10s --start-period=30s --retries=3 CMD ["curl", "-f", "http://localhost/"]
